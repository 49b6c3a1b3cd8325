/* endpoint.h - webhook endpoint definitions (issue 12): validation, and the policy on where
 * cxd may send (src/endpoint.c).
 *
 * Safe by default: an endpoint's URL must be https:// (http:// only with
 * --webhook-allow-http), carry no user:password, and its host must not resolve to an
 * address inside the network cxd runs in (cx_endpoint_addr_forbidden) unless
 * --webhook-allow-private. The address is checked when the endpoint is saved, and again
 * by the delivery worker on every connection it opens (DNS answers change).
 * Everything here is thread-safe.
 */
#ifndef CX_ENDPOINT_H
#define CX_ENDPOINT_H

#include <jansson.h>

#include "cx/error.h"

struct sockaddr;

#define CX_ENDPOINT_URL_MAX 2048
#define CX_ENDPOINT_DESC_MAX 500
#define CX_ENDPOINT_SURVEYS_MAX 100
#define CX_ENDPOINTS_MAX 100   /* endpoints in all (422 too_many_endpoints past it) */

/* 1 if a webhook may not go to sa (AF_INET or AF_INET6) without --webhook-allow-private:
 * unspecified (0.0.0.0/8, ::), loopback (127/8, ::1), private (10/8, 172.16/12,
 * 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), shared CGNAT (100.64/10),
 * multicast (224/4, ff00::/8), reserved and broadcast (240/4), site-local (fec0::/10), and
 * the IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96)
 * forms of those. Any other family: 1. */
int cx_endpoint_addr_forbidden(const struct sockaddr *sa);

/* Check a URL against the policy; resolves its host (getaddrinfo: may block for DNS).
 * 0, or -1 with a 422 in err (field "url"): `invalid_url` (not a URL, userinfo in it,
 * not http(s)), `endpoint_insecure` (http:// without allow_http), `endpoint_unresolvable`,
 * `endpoint_private` (an address the host resolves to is forbidden). */
int cx_endpoint_check_url(const char *url, int allow_http, int allow_private,
			  struct cx_error *err);

/* Validate an endpoint definition from the API: {"id", "url", "description"?, "events"?,
 * "surveys"?, "secret"?}. path_id is the id in the path of a PUT (then "id", if given,
 * must equal it, and "secret" is refused: rotate instead). On success *out is a new object
 * {"id", "url", "description" (or null), "events" (array), "surveys" (array or null)} and,
 * on create, `secret` (CX_WHSIG_SECRET_SIZE bytes) the given secret or a new one.
 * Errors 422: unknown_field, invalid_endpoint, invalid_id, invalid_url (and the codes of
 * cx_endpoint_check_url), invalid_description, invalid_events, invalid_surveys,
 * invalid_webhook_secret. */
int cx_endpoint_from_json(const json_t *body, const char *path_id, int allow_http,
			  int allow_private, json_t **out, char *secret, struct cx_error *err);

/* 1 if type is an event type an endpoint may subscribe to. */
int cx_endpoint_event_known(const char *type);

#endif
