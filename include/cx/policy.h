/* policy.h - who may do what, decided when a request's headers are in, before any byte of
 * its body is read (src/policy.c).
 *
 * The router matches the route and checks the key (routes.c); then it asks the policy,
 * which answers from the route, the key, the headers and the survey named in the URL:
 *
 *  - Anonymous clients (no Authorization header) may post responses only to a public
 *    survey named in the URL, `POST /v1/surveys/{id}/responses`, one response per request
 *    (a form or one JSON object), at most --body-limit bytes. NDJSON is refused at the
 *    headers; a JSON array once its first byte shows it (the body is at most --body-limit).
 *    An anonymous `POST /v1/responses` (the survey would only be known from the body) is
 *    refused at the headers. Every refusal of an anonymous post for want of a key is the
 *    same 401, whether the survey is private or does not exist, so it tells nothing about
 *    surveys.
 *  - Keyed clients keep every route their role allows, batches included.
 *  - Some routes never spend a client's rate budget (`/healthz`: a probe must not get 429).
 *  - Idempotency keys live in the namespace of the client that sent them (its API key, or
 *    "anonymous from this address"), so no client can claim or learn another's.
 */
#ifndef CX_POLICY_H
#define CX_POLICY_H

#include <stddef.h>

#include "cx/error.h"
#include "cx/http.h"

/* Longest scope cx_policy_idem_scope() writes, NUL included. */
#define CX_IDEM_SCOPE_MAX 80

/* 1 if req (its route already matched) is exempt from the per-address rate limit. */
int cx_policy_rate_exempt(const struct cx_req *req);

/* After the route, the key and the body kind are known: 0 if req may send its body, with
 * req->body_limit set (and req->cors_origin for an origin a public survey allows); -1 with
 * err (401, 403, 404) otherwise. Runs on the first callback, before any body. */
int cx_policy_admit(struct cx_req *req, struct cx_error *err);

/* 1 if a CORS preflight from origin to req->path may be answered: origins in
 * --cors-origins everywhere; on /v1/responses, an origin some public survey allows (keyed
 * widgets); on /v1/surveys/{id}/responses, an origin that public survey allows. */
int cx_policy_preflight_allowed(struct cx_req *req, const char *origin);

/* 1 if req's route (matched) is the hosted survey page's (/i/, /s/): its refusals are
 * that page's error pages, from the rate limit on. */
int cx_policy_page_route(const struct cx_req *req);

/* 1 if req is anonymous (no API key). */
int cx_policy_anonymous(const struct cx_req *req);

/* The namespace of req's idempotency keys, into buf: "key:<id>" for a keyed client,
 * "anon:<address>" for an anonymous one. */
void cx_policy_idem_scope(const struct cx_req *req, char *buf, size_t len);

#endif
